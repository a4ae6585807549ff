# want: Service without ports
service "bad" { ports = [] }
