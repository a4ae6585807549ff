network "internet" {
  cidrs = ["0.0.0.0/0"]
}

service "https" {
  ports = ["tcp/443"]
}

service "app-http" {
  ports = ["tcp/8080"]
}

service "postgres" {
  ports = ["tcp/5432"]
}

allow "internet-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
  owner    = "team-edge"
  ticket   = "SEC-101"
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
  from     = [segment.batch]
  to       = [segment.db]
  services = [service.postgres]
  owner    = "team-data"
  ticket   = "SEC-188"
}
