# A policy with three mistakes, for the validate command's golden test.
target "aws" "prod" {
  region = "us-east-1"
  vpc_id = "vpc-1"
}

service "postgres" { ports = ["tcp/0"] }

segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
  mode   = "enforcing"
}

allow "web-to-db" {
  from     = [segment.web]
  to       = [segment.wbe]
  services = [service.postgres]
}
