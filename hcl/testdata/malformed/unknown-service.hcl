# want: Unknown service
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgre]
}
