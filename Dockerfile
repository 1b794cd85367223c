# syntax=docker/dockerfile:1
#
# example-app: build in a Rust image, run from a distroless image that holds only the
# binary. The migrations are compiled into the binary, so no migration file is copied.
#
#   docker build -t example-app .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://… example-app
#   docker run --rm -e DATABASE_URL=postgres://… example-app migrate upgrade head
#
# (Not built on the machine this was written on: Docker is not available there.)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the target directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p example-app \
    && install -D -m 0755 target/release/example-app /out/example-app

# glibc and libgcc only, no shell, user `nonroot` (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/example-app /usr/local/bin/example-app
USER nonroot:nonroot
WORKDIR /home/nonroot
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/example-app"]
CMD ["serve"]
