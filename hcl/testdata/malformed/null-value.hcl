# want: Missing value
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgres]
  owner    = null
}
