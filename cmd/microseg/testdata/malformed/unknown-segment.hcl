# want: Unknown segment
allow "x" {
  from     = [segment.wbe]
  to       = [segment.db]
  services = [service.postgres]
}
