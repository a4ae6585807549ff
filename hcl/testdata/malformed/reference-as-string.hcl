# want: Invalid reference
allow "x" {
  from     = ["web"]
  to       = [segment.db]
  services = [service.postgres]
}
