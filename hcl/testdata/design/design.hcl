target "aws" "prod-use1" {
  region   = "us-east-1"
  vpc_id   = "vpc-0123456789abcdef0"
  endpoint = "http://127.0.0.1:4566"   # optional: LocalStack-compatible or test endpoint
  flow_logs { s3_uri = "s3://acme-flowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/" }
}
target "azure" "prod-weu" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
  resource_group  = "rg-prod"
  location        = "westeurope"
  subnet_ids      = ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/app"] # where the target's NSG is attached
  flow_logs { storage_account = "acmeflow" }
}
target "gcp" "prod" {
  project = "acme-prod"
  network = "prod-vpc"
  flow_logs { gcs_uri = "gs://acme-logs/" }
}
target "hosts" "dc1" {
  management_cidrs = ["10.0.0.0/24"]    # anti-lockout: always reachable on management_ports (default tcp/22)
  host "db-01" { address = "10.20.0.11" }
  host "db-02" { address = "10.20.0.12" }
}

network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }

service "https"    { ports = ["tcp/443"] }
service "postgres" { ports = ["tcp/5432"] }
service "dns"      { ports = ["udp/53", "tcp/53"] }
service "ping"     { ports = ["icmp"] }

segment "web" {
  target  = target.aws.prod-use1
  members { tags = { tier = "web" } }     # which workloads belong: tags / labels / host names
  cidrs   = ["10.10.0.0/24"]              # how peers in other targets address this segment
  labels  = { env = "prod", scope = "pci" }
  mode    = "enforce"                     # enforce | audit
}

segment "db" {
  target  = target.hosts.dc1
  members { hosts = ["db-01", "db-02"] }
  cidrs   = ["10.20.0.0/24"]
}

allow "internet-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
}

allow "web-to-db" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgres]
  owner    = "team-payments"
  ticket   = "SEC-142"
  expires  = "2027-06-30"
}
