/** PageQueryDto moved to @app/common (issue 18); kept here for audit's own imports. */
export { PageQueryDto } from '@app/common';
