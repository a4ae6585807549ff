segment "web" {
  target = target.hosts.lab
  members { hosts = ["web-01"] }
}

segment "app" {
  target = target.hosts.lab
  members { hosts = ["app-01"] }
}

segment "db" {
  target = target.hosts.lab
  members { hosts = ["db-01"] }
}

