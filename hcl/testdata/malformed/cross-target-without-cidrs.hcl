# want: Cross-target reference to a segment without cidrs
allow "lb-to-db" {
  from     = [segment.lb]
  to       = [segment.db]
  services = [service.postgres]
}
