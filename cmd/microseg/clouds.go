package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"google.golang.org/api/option"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	awsprovider "github.com/microseg/microseg/providers/aws"
	"github.com/microseg/microseg/providers/azure"
	"github.com/microseg/microseg/providers/gcp"
)

// cloudProviders are the providers this version has, with the clouds' SDK clients
// wired in.
var cloudProviders = providers.Registry{model.KindAWS: awsProvider, model.KindAzure: azureProvider, model.KindGCP: gcpProvider}

// awsProvider builds the provider of an aws target. Credentials come from the SDK's
// default chain (environment, shared config and profile, SSO, IMDS), optionally
// assuming the target's role; nothing secret is logged.
func awsProvider(ctx context.Context, t *model.Target, policy string) (providers.Provider, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(t.AWS.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if t.AWS.AssumeRoleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), t.AWS.AssumeRoleARN))
	}
	client := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if t.AWS.Endpoint != "" {
			o.BaseEndpoint = aws.String(t.AWS.Endpoint)
		}
		// Throttling and 5xx are retried with jittered backoff, bounded.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 10 })
	})
	q := awsprovider.DefaultQuotas
	if t.AWS.RulesPerGroup > 0 {
		q.RulesPerGroup = t.AWS.RulesPerGroup
	}
	if t.AWS.GroupsPerENI > 0 {
		q.GroupsPerENI = t.AWS.GroupsPerENI
	}
	return awsprovider.New(client, t, policy, q)
}

// azureProvider builds the provider of an azure target. Credentials come from
// azidentity's DefaultAzureCredential (environment, workload identity, managed
// identity, Azure CLI); nothing secret is logged. The target's endpoint points ARM
// at a sovereign cloud, Azure Stack or an emulator (AZURE_AUTHORITY_HOST then names
// its Entra ID, unless it is one of the clouds azcore knows).
func azureProvider(ctx context.Context, t *model.Target, policy string) (providers.Provider, error) {
	cfg, known := azureCloud(t.Azure.Endpoint)
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cfg},
		// Entra ID's instance discovery asks Microsoft's public authority about the
		// authority host: for a cloud of its own (Azure Stack, a private cloud, an
		// emulator) Microsoft documents turning it off.
		DisableInstanceDiscovery: !known,
	})
	if err != nil {
		return nil, fmt.Errorf("azure credentials: %w", err)
	}
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cfg,
		// Throttling (429, honouring Retry-After) and 5xx by azcore, bounded;
		// 409 AnotherOperationInProgress by the provider's policy.
		Retry:           azpolicy.RetryOptions{MaxRetries: 10},
		PerCallPolicies: []azpolicy.Policy{azure.ConflictRetry(8, time.Second)},
	}}
	vms, err := armcompute.NewVirtualMachinesClient(t.Azure.SubscriptionID, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure compute client: %w", err)
	}
	clients, err := azure.NewClients(t.Azure.SubscriptionID, cred, opts, azure.ComputeVMs{Client: vms})
	if err != nil {
		return nil, err
	}
	return azure.New(clients, t, policy, azure.DefaultLimits)
}

// azureCloud is the cloud an ARM endpoint belongs to: Azure's public cloud when
// it is empty, one of the sovereign clouds azcore knows (known), or else a cloud of
// its own whose token audience is the endpoint.
func azureCloud(endpoint string) (cfg cloud.Configuration, known bool) {
	if endpoint == "" {
		return cloud.AzurePublic, true
	}
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureChina, cloud.AzureGovernment} {
		if strings.TrimSuffix(c.Services[cloud.ResourceManager].Endpoint, "/") == strings.TrimSuffix(endpoint, "/") {
			return c, true
		}
	}
	authority := cloud.AzurePublic.ActiveDirectoryAuthorityHost
	if h := os.Getenv("AZURE_AUTHORITY_HOST"); h != "" {
		authority = h
	}
	return cloud.Configuration{ActiveDirectoryAuthorityHost: authority, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: endpoint, Audience: endpoint},
	}}, false
}

// gcpProvider builds the provider of a gcp target. Credentials come from
// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's,
// the metadata server); the target's endpoint points the Compute Engine clients
// elsewhere (a private endpoint, an emulator).
func gcpProvider(ctx context.Context, t *model.Target, policy string) (providers.Provider, error) {
	var opts []option.ClientOption
	if t.GCP.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(t.GCP.Endpoint))
	}
	fw, err := compute.NewFirewallsRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("compute engine client: %w", err)
	}
	inst, err := compute.NewInstancesRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("compute engine client: %w", err)
	}
	proj, err := compute.NewProjectsRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("compute engine client: %w", err)
	}
	l := gcp.DefaultLimits
	for _, o := range []struct{ set, dest *int }{{&t.GCP.RangesPerRule, &l.RangesPerRule}, {&t.GCP.TagsPerRule, &l.TagsPerRule}, {&t.GCP.PortsPerRule, &l.PortsPerRule}} {
		if *o.set > 0 {
			*o.dest = *o.set
		}
	}
	return gcp.New(&gcp.Clients{Firewalls: fw, Instances: inst, Projects: proj}, t, policy, l, time.Second)
}

// cloudFlowSources opens a cloud target's flow logs, as its flow_logs block says,
// with the clouds' default credential chains:
//   - AWS: the default chain (and the target's role); AWS_ENDPOINT_URL_S3 or
//     AWS_ENDPOINT_URL point S3 at a compatible server (path-style addressing then).
//   - Azure: AZURE_STORAGE_CONNECTION_STRING when set (Azurite, a SAS), else
//     azidentity's default credential against https://ACCOUNT.blob.core.windows.net.
//   - GCP: Application Default Credentials; STORAGE_EMULATOR_HOST points the client
//     at an emulator.
func cloudFlowSources(ctx context.Context, t *model.Target) (providers.FlowSource, error) {
	fl := t.FlowLogs
	if fl == nil {
		return nil, fmt.Errorf("target %s has no flow_logs block", t.Name)
	}
	switch t.Kind {
	case model.KindAWS:
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(t.AWS.Region))
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		if t.AWS.AssumeRoleARN != "" {
			cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), t.AWS.AssumeRoleARN))
		}
		if fl.LogGroup != "" {
			return &awsprovider.CloudWatchFlowLogs{Client: cloudwatchlogs.NewFromConfig(cfg), LogGroup: fl.LogGroup, Target: t.Name}, nil
		}
		bucket, prefix, err := awsprovider.ParseS3URI(fl.S3URI)
		if err != nil {
			return nil, err
		}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
		})
		return &awsprovider.S3FlowLogs{Client: client, Bucket: bucket, Prefix: prefix, Target: t.Name}, nil
	case model.KindAzure:
		var client *azblob.Client
		var err error
		if cs := os.Getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
			client, err = azblob.NewClientFromConnectionString(cs, nil)
		} else {
			var cred *azidentity.DefaultAzureCredential
			if cred, err = azidentity.NewDefaultAzureCredential(nil); err == nil {
				client, err = azblob.NewClient("https://"+fl.StorageAccount+".blob.core.windows.net/", cred, nil)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("azure blob storage %s: %w", fl.StorageAccount, err)
		}
		container := fl.Container
		if container == "" {
			container = azure.VNetFlowLogContainer
		}
		return &azure.BlobFlowLogs{Client: client, Container: container, Target: t.Name}, nil
	case model.KindGCP:
		bucket, prefix, err := gcp.ParseGCSURI(fl.GCSURI)
		if err != nil {
			return nil, err
		}
		client, err := storage.NewClient(ctx, storage.WithJSONReads())
		if err != nil {
			return nil, fmt.Errorf("google cloud storage: %w", err)
		}
		return &gcp.GCSFlowLogs{Client: client, Bucket: bucket, Prefix: prefix, Target: t.Name}, nil
	}
	return nil, fmt.Errorf("target %s: %s targets have no cloud flow logs", t.Name, t.Kind)
}
