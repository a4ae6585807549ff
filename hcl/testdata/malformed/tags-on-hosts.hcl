# want: Tags on hosts
segment "cache" {
  target = target.hosts.dc1
  members { tags = { tier = "cache" } }
}
