# want: Empty from
allow "x" {
  from     = []
  to       = [segment.db]
  services = [service.postgres]
}
