// A build script, so that cargo applies the build-dependencies section too.
fn main() {}
