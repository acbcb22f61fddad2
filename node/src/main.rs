//! The `peerhost-node` binary: see [`peerhost_node::cli`].

fn main() -> std::process::ExitCode {
    peerhost_node::cli::main()
}
