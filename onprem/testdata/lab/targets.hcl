# The lab of the kernel tests: three hosts in network namespaces, 10.99.0.0/24 and
# fd99::/64 (see netns_test.go).
target "hosts" "lab" {
  management_cidrs = ["10.99.9.0/24"]
  flow_logs {
    nflog_group = 42
  }

  host "web-01" {
    address   = "10.99.0.11"
    addresses = ["fd99::11"]
  }
  host "app-01" {
    address   = "10.99.0.12"
    addresses = ["fd99::12"]
  }
  host "db-01" {
    address   = "10.99.0.13"
    addresses = ["fd99::13"]
  }
}

service "app" { ports = ["tcp/8080"] }
service "postgres" { ports = ["tcp/5432"] }
service "syslog" { ports = ["udp/5514"] }
service "ping" { ports = ["icmp/8", "icmpv6/128"] }

