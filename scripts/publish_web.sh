#!/usr/bin/env bash
# Uploads the web page (client/web/) to the stage's hosting bucket and refreshes
# CloudFront's copy. The stage must have been deployed with WSCHAT_WEB_HOSTING=true.
#   ./scripts/publish_web.sh [stage] [region]     (defaults: dev, us-east-1)
# Needs the AWS CLI v2 and credentials that may write the bucket and invalidate the
# distribution. The page finds its WebSocket API by itself (the distribution redirects
# `/` to `/?ws=wss://...`), so nothing in client/web/ changes.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:-dev}
REGION=${2:-${AWS_REGION:-us-east-1}}
STACK=wschat-$STAGE

output() {
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
BUCKET=$(output WebBucketName)
URL=$(output WebUrl)
if [[ -z $BUCKET || $BUCKET == None ]]; then
  echo "publish_web: stack $STACK has no web hosting: deploy it with WSCHAT_WEB_HOSTING=true" >&2
  exit 1
fi
aws s3 sync --region "$REGION" --delete client/web/ "s3://$BUCKET/" \
  --exclude '*.map' --cache-control 'max-age=300'
DIST=$(aws cloudfront list-distributions \
  --query "DistributionList.Items[?DomainName=='$(echo "$URL" | sed -E 's#https://([^/]+)/#\1#')'].Id" \
  --output text)
aws cloudfront create-invalidation --distribution-id "$DIST" --paths '/*' >/dev/null
echo "publish_web: $URL (CloudFront serves the new files within a few minutes)"
