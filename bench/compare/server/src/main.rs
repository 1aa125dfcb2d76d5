//! The benchmark's S3-compatible server: s3s-fs (objects as plain files under
//! `ROOT/BUCKET/`) on 127.0.0.1, with one difference. s3s-fs keeps a key prefix as a folder,
//! and a HEAD or GET of the prefix's name without the slash (`dir` for `dir/a`) reaches
//! that folder and fails with 500 Internal Server Error; S3 answers 404 NoSuchKey. FUSE
//! clients ask for that name at every lookup of a directory, and rclone and s3fs retry a
//! 500 with back-off (a rclone remount took 50-90 s), so the server would be measured
//! instead of the caches. Here such a request gets NoSuchKey; everything else goes to
//! s3s-fs unchanged. Likewise a HEAD of a directory marker (`dir/`, which s3s-fs stores as
//! a folder) gets the empty object S3 would return, not 500 (s3fs's mkdir checks it).
//!
//! Usage: silt-bench-server PORT ACCESS_KEY SECRET_KEY ROOT

use async_trait::async_trait;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use std::net::SocketAddr;
use std::path::PathBuf;

struct Server {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

impl Server {
    /// `key` (without a trailing slash) names a folder of s3s-fs, that is a prefix.
    fn is_folder(&self, bucket: &str, key: &str) -> bool {
        !key.is_empty() && !key.ends_with('/') && self.root.join(bucket).join(key).is_dir()
    }
}

#[async_trait]
impl S3 for Server {
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        if self.is_folder(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        let key = &req.input.key;
        if key.ends_with('/') {
            // A directory marker (`dir/`, put by mkdir) is a folder in s3s-fs, whose HEAD
            // fails with 500: answer it as the empty object S3 would hold.
            let path = self.root.join(&req.input.bucket).join(key);
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.is_dir()
            {
                let output = HeadObjectOutput {
                    content_length: Some(0),
                    content_type: Some("application/x-directory".into()),
                    e_tag: Some(ETag::Strong("d41d8cd98f00b204e9800998ecf8427e".into())),
                    last_modified: meta.modified().ok().map(Timestamp::from),
                    ..Default::default()
                };
                return Ok(S3Response::new(output));
            }
        }
        self.fs.head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        if self.is_folder(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        self.fs.get_object(req).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(&self, req: S3Request<CreateMultipartUploadInput>) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(&self, req: S3Request<CompleteMultipartUploadInput>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: silt-bench-server PORT ACCESS_KEY SECRET_KEY ROOT");
        std::process::exit(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SILT_BENCH_LOG"))
        .with_ansi(false)
        .init();
    let port: u16 = args[1].parse().expect("PORT");
    let root = PathBuf::from(&args[4]);
    let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs over ROOT");
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(Server { fs, root });
        b.set_auth(s3s::auth::SimpleAuth::from_single(args[2].as_str(), args[3].as_str()));
        b.build()
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    }
}
