# want: Unknown network
allow "x" {
  from     = [network.internt]
  to       = [segment.web]
  services = [service.https]
}
