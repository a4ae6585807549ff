# want: Allow without services
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = []
}
