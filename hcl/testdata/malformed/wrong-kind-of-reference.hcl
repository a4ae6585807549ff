# want: Wrong kind of reference
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = [segment.web]
}
