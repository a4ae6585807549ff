package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	awsprovider "github.com/microseg/microseg/providers/aws"
)

// cloudProviders wires the clouds' SDK clients into providers. AWS credentials come
// from the SDK's default chain (environment, shared config and profile, SSO, IMDS),
// optionally assuming the target's role; nothing secret is logged.
func cloudProviders(ctx context.Context, t *model.Target, policy string) (providers.Provider, error) {
	switch t.Kind {
	case model.KindAWS:
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
	return nil, fmt.Errorf("no provider for %s targets in this version", t.Kind)
}
