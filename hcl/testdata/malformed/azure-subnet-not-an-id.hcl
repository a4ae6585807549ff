# want: Invalid subnet ID
target "azure" "weu" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
  resource_group  = "rg-prod"
  location        = "westeurope"
  subnet_ids      = ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/app", "vnet-prod/app"]
}
