# The valid context every malformed case is loaded with (see malformed_test.go).
target "aws" "prod" {
  region = "us-east-1"
  vpc_id = "vpc-1"
}
target "hosts" "dc1" {
  management_cidrs = ["10.0.0.0/24"]
  host "db-01" { address = "10.20.0.11" }
}
network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }
service "https" { ports = ["tcp/443"] }
service "postgres" { ports = ["tcp/5432"] }
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
  cidrs  = ["10.10.0.0/24"]
}
segment "lb" {
  target = target.aws.prod
  members { tags = { role = "lb" } }
}
segment "db" {
  target = target.hosts.dc1
  members { hosts = ["db-01"] }
  cidrs  = ["10.20.0.0/24"]
}
