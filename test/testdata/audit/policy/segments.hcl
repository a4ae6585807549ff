# An enforcing segment and an audit-mode one in each cloud.

segment "web" {
  target = target.aws.prod-use1
  members {
    tags = { tier = "web" }
  }
  cidrs  = ["10.10.1.0/24"]
  labels = { env = "prod", scope = "pci" }
}

segment "reports" {
  target = target.aws.prod-use1
  members {
    tags = { tier = "reports" }
  }
  cidrs = ["10.10.2.0/24"]
  mode  = "audit"
}

segment "app" {
  target = target.azure.prod-weu
  members {
    tags = { tier = "app" }
  }
  cidrs  = ["10.30.0.0/24"]
  labels = { env = "prod", scope = "pci" }
}

segment "jobs" {
  target = target.azure.prod-weu
  members {
    tags = { tier = "jobs" }
  }
  cidrs = ["10.30.1.0/24"]
  mode  = "audit"
}

segment "db" {
  target = target.gcp.prod
  members {
    labels = { role = "db" }
  }
  cidrs  = ["10.50.0.0/24"]
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
