# want: No management CIDRs
target "hosts" "dc2" {
  management_cidrs = []
}
