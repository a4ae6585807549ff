allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app]
}

allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres, service.syslog, service.ping]
}
