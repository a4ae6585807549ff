# want: Host without address
target "hosts" "dc2" {
  management_cidrs = ["10.0.0.0/24"]
  host "x" {}
}
