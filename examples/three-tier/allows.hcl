allow "internet-to-lb" {
  from        = [network.internet]
  to          = [segment.lb]
  services    = [service.https]
  owner       = "team-edge"
  ticket      = "SEC-101"
  description = "Public HTTPS"
}

allow "lb-to-web" {
  from     = [segment.lb]
  to       = [segment.web]
  services = [service.https]
  owner    = "team-edge"
  ticket   = "SEC-102"
}

allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app-http]
  owner    = "team-payments"
  ticket   = "SEC-120"
}

allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres]
  owner    = "team-payments"
  ticket   = "SEC-142"
}

allow "batch-to-db" {
  from        = [segment.batch]
  to          = [segment.db]
  services    = [service.postgres]
  owner       = "team-data"
  ticket      = "SEC-188"
  expires     = "2027-06-30"
  description = "Nightly reporting export until the warehouse migration ends"
}

allow "dns" {
  from     = [segment.web, segment.app, segment.batch]
  to       = [network.dns-resolvers]
  services = [service.dns]
  owner    = "team-platform"
}

allow "monitoring" {
  from     = [segment.monitoring]
  to       = [segment.lb, segment.web, segment.app, segment.db]
  services = [service.node-exporter]
  owner    = "team-platform"
  ticket   = "SEC-150"
}
