# want: Invalid expiry date
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgres]
  expires  = "next quarter"
}
