//! `wsock serve --broadcast --broker redis://…`: the chat room shared by
//! every server linked to the same Redis (wsock-broadcast's `RedisBroker`).

use wsock_broadcast::{BrokerError, Hub, RedisBroker};

use crate::cli::ServeArgs;
use crate::exit::{CliError, ExitKind};

/// The room's hub, linked to the broker at `url`: a bad URL is a usage
/// error (2), an unreachable or refusing Redis a connection error (3).
pub(crate) async fn hub(args: &ServeArgs, url: &str) -> Result<Hub, CliError> {
    let broker = RedisBroker::new(url)
        .map_err(|e| CliError::usage(format!("--broker: {e}")))?
        .prefix(args.broker_prefix.clone());
    Hub::builder()
        .capacity(args.room_capacity)
        .build_redis(broker)
        .await
        .map_err(|e| match e {
            BrokerError::Url(_) => CliError::usage(format!("--broker: {e}")),
            _ => CliError::new(ExitKind::Connect, format!("--broker: {e}")),
        })
}
