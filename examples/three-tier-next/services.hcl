service "https" {
  ports = ["tcp/443"]
}

service "app-http" {
  ports = ["tcp/8080"]
}

service "postgres" {
  ports = ["tcp/5432"]
}

service "pgbouncer" {
  ports = ["tcp/6432"]
}

service "dns" {
  ports = ["udp/53", "tcp/53"]
}

service "node-exporter" {
  ports = ["tcp/9100"]
}

network "internet" {
  cidrs = ["0.0.0.0/0", "::/0"]
}

network "dns-resolvers" {
  cidrs = ["10.0.0.2/32", "10.0.0.3/32"]
}
