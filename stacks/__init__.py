"""The CDK app: the refund service's stack and the constructs it is made of."""
