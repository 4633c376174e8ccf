//! AWS adapters of the ports declared in `justice-service`: `DynamoRiskStore`, the S3 task
//! board, the SNS outbox and the AWS Config source. Empty until the scorer issue lands; the
//! crate exists so that the workspace layout is the one DESIGN.md describes.
