module github.com/sxbisect/sxbisect

go 1.26.8

require (
	github.com/go-git/go-git/v5 v5.19.3
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/pjbgf/sha1cd v0.7.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
