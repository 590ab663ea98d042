//! fakessh: tools that run ssh (rsync, scp, sftp, git) reach a context over econtext's own
//! routes (docs/fakessh.md).
//!
//! The tool is given the econtext binary itself as its ssh program. That fake ssh connects
//! back over a unix socket to the econtext process that started the tool (the [`Gateway`]),
//! proves it was started by it (SO_PEERCRED: the same user; and a random token passed in the
//! environment, never on argv), sends ssh's arguments, and from then on carries its stdin,
//! stdout and stderr as [`wire`] frames. The gateway parses the arguments as OpenSSH would
//! ([`argv`]) and runs the command on the target context as sshd would (`serve`).
//!
//! On a remote context the gateway's part is played by `econtext_fakessh` (Python, served
//! from the binary) and the fake ssh is an executable memfd (`remote`).

pub mod argv;
mod client;
mod gateway;
mod remote;
mod serve;
pub mod wire;

pub use client::{client_main, ENV_SOCKET, ENV_TOKEN};
pub use gateway::Gateway;
pub(crate) use remote::relay;
pub use serve::SSH_FAILED;
