//! Tolerance for S3-compatible servers that name a response's XML root `<XResponse>` where S3
//! (and the SDK's strict parser) says `<XResult>` (moto does this for ListParts and
//! CompleteMultipartUpload). Without it, a multipart upload that the server completed would
//! read as a failure. Attached per operation, it renames only that operation's root element.

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::SdkBody;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Renames the root element `<{from}` to `<{to}` (and its closing tag) in a response body.
#[derive(Debug)]
pub(crate) struct RenameRoot {
    pub from: &'static str,
    pub to: &'static str,
}

impl Intercept for RenameRoot {
    fn name(&self) -> &'static str {
        "silt-rename-xml-root"
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (from, to) = (self.from, self.to);
        let body = std::mem::replace(ctx.response_mut().body_mut(), SdkBody::taken());
        *ctx.response_mut().body_mut() = body.map(move |b| {
            SdkBody::from_body_1_x(Renamed {
                inner: b,
                buf: BytesMut::new(),
                from,
                to,
                done: false,
            })
        });
        Ok(())
    }
}

/// Buffers the (small) response and emits it renamed.
struct Renamed {
    inner: SdkBody,
    buf: BytesMut,
    from: &'static str,
    to: &'static str,
    done: bool,
}

impl Body for Renamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let fixed = rename(&self.buf, self.from, self.to);
                    return Poll::Ready(Some(Ok(Frame::data(fixed))));
                }
            }
        }
    }
}

fn rename(body: &[u8], from: &str, to: &str) -> Bytes {
    let Ok(text) = std::str::from_utf8(body) else {
        return Bytes::copy_from_slice(body);
    };
    let open = format!("<{from}");
    let close = format!("</{from}>");
    // The root is the first element that is not a declaration or processing instruction.
    let root = text
        .match_indices('<')
        .map(|(i, _)| i)
        .find(|&i| !text[i..].starts_with("<?") && !text[i..].starts_with("<!"));
    let is_root = root.is_some_and(|i| {
        text[i..].starts_with(&open)
            && text[i + open.len()..].starts_with(|c: char| c == '>' || c.is_whitespace())
    });
    if !is_root {
        return Bytes::copy_from_slice(body);
    }
    Bytes::from(
        text.replacen(&open, &format!("<{to}"), 1)
            .replacen(&close, &format!("</{to}>"), 1),
    )
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn renames_only_the_root() {
        let moto =
            "<?xml version=\"1.0\"?>\n<ListPartsResponse xmlns=\"x\"><Part/></ListPartsResponse>";
        assert_eq!(
            &rename(moto.as_bytes(), "ListPartsResponse", "ListPartsResult")[..],
            "<?xml version=\"1.0\"?>\n<ListPartsResult xmlns=\"x\"><Part/></ListPartsResult>"
                .as_bytes()
        );
        let s3 = "<?xml version=\"1.0\"?>\n<ListPartsResult><Note>ListPartsResponse</Note></ListPartsResult>";
        assert_eq!(
            &rename(s3.as_bytes(), "ListPartsResponse", "ListPartsResult")[..],
            s3.as_bytes()
        );
        let error = "<Error><Code>NoSuchUpload</Code></Error>";
        assert_eq!(
            &rename(error.as_bytes(), "ListPartsResponse", "ListPartsResult")[..],
            error.as_bytes()
        );
    }
}
