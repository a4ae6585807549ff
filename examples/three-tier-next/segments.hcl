# Three tiers (load balancer -> web -> app -> db), a batch job still in audit mode,
# and the monitoring host that scrapes every tier.

segment "lb" {
  target = target.aws.prod-use1
  members {
    tags = { role = "lb" }
  }
  cidrs  = ["10.10.0.0/26", "2600:1f18:10::/64"]
  labels = { env = "prod", scope = "pci" }
}

segment "web" {
  target = target.aws.prod-use1
  members {
    tags = { tier = "web" }
  }
  cidrs  = ["10.10.1.0/24", "2600:1f18:11::/64"]
  labels = { env = "prod", scope = "pci" }
}

segment "app" {
  target = target.azure.prod-weu
  members {
    tags = { tier = "app" }
  }
  cidrs  = ["10.30.0.0/24"]
  labels = { env = "prod", scope = "pci" }
}

segment "batch" {
  target = target.gcp.prod
  members {
    labels = { role = "batch" }
  }
  cidrs = ["10.40.0.0/24"]
  mode  = "audit"
}

segment "db" {
  target = target.hosts.dc1
  members {
    hosts = ["db-01", "db-02"]
  }
  cidrs  = ["10.20.0.0/24"]
  labels = { env = "prod", scope = "pci" }
}

segment "monitoring" {
  target = target.hosts.dc1
  members {
    hosts = ["mon-01"]
  }
  cidrs = ["10.20.1.0/24", "fd00:20:1::/64"]
}
