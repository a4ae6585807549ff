# want: Invalid number
target "hosts" "dc2" {
  management_cidrs = ["10.0.0.0/24"]
  flow_logs { nflog_group = 70000 }
}
