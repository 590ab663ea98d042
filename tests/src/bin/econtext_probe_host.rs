//! A host process for the parent-death test: starts a local context whose function blocks
//! (and which starts a grandchild), then waits to be killed.

use econtext::{Local, Router, Value};

fn main() {
    let mut args = std::env::args().skip(1);
    let python = args.next().expect("python path");
    let function = args.next().expect("function");
    let router = Router::new().expect("router");
    let ctx = router
        .connect(&Local::new().python(python))
        .expect("connect");
    ctx.call(
        "os.system",
        vec!["sh -c 'sleep 600; true' econtext-grandchild-marker &".into()],
    )
    .expect("grandchild");
    let arg = if function == "time.sleep" {
        vec![Value::Int(3600)]
    } else {
        vec![]
    };
    let _pending = ctx
        .build(&function)
        .expect("function")
        .args(arg)
        .spawn()
        .expect("call");
    println!("ready");
    std::thread::sleep(std::time::Duration::from_secs(3600));
}
