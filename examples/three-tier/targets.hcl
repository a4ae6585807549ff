# Where the policy is enforced: one target of each kind.

target "aws" "prod-use1" {
  region = "us-east-1"
  vpc_id = "vpc-0123456789abcdef0"
  flow_logs {
    s3_uri = "s3://acme-flowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/"
  }
}

target "azure" "prod-weu" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
  resource_group  = "rg-prod"
  location        = "westeurope"
  subnet_ids      = ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/app"]
  flow_logs {
    storage_account = "acmeflow"
  }
}

target "gcp" "prod" {
  project = "acme-prod"
  network = "prod-vpc"
  flow_logs {
    gcs_uri = "gs://acme-logs/"
  }
}

target "hosts" "dc1" {
  management_cidrs = ["10.0.0.0/24"]
  management_ports = ["tcp/22"]

  host "db-01" { address = "10.20.0.11" }
  host "db-02" { address = "10.20.0.12" }
  host "mon-01" {
    address   = "10.20.1.10"
    addresses = ["fd00:20:1::10"]
  }
}
