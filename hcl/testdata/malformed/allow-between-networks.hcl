# want: Allow between two networks
network "corp" { cidrs = ["10.0.0.0/8"] }
allow "x" {
  from     = [network.corp]
  to       = [network.internet]
  services = [service.https]
}
