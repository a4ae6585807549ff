# want: Invalid address
target "hosts" "dc2" {
  management_cidrs = ["10.0.0.0/24"]
  host "x" { address = "10.0.0.300" }
}
