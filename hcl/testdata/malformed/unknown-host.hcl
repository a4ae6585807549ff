# want: Unknown host
segment "cache" {
  target = target.hosts.dc1
  members { hosts = ["db-1"] }
}
