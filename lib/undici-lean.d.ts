/**
 * Local types for the two undici 7 modules lib/http-get.ts loads instead of the package's index (see there): the
 * global dispatcher's getter, and the `request` method every dispatcher gets from lib/api (called with the
 * dispatcher as `this`). Typed with undici's own declarations; nothing here leaves http-get.ts.
 */
declare module 'undici/lib/global.js' {
  import type { Dispatcher } from 'undici'
  export function getGlobalDispatcher (): Dispatcher
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici'
  function request (this: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>
  export default request
}
