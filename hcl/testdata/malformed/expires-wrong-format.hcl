# want: Invalid expiry date
allow "x" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgres]
  expires  = "30/06/2027"
}
