# The lab policy with every segment in audit mode.
segment "web" {
  target = target.hosts.lab
  members { hosts = ["web-01"] }
  mode = "audit"
}

segment "app" {
  target = target.hosts.lab
  members { hosts = ["app-01"] }
  mode = "audit"
}

segment "db" {
  target = target.hosts.lab
  members { hosts = ["db-01"] }
  mode = "audit"
}

