# want: Hosts in a cloud target
segment "api" {
  target = target.aws.prod
  members { hosts = ["db-01"] }
}
