/**
 * Which requests autoload the session: decided per request from the route's `config.session.autoload` and the
 * plugin's path rules, with everything that the route alone answers worked out once per route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.ts'
import type { NormalizedOptions } from './options.ts'

/** `true`/`false`: decided for the route; a function: decided per request; an Error: the route's config is invalid. */
type Decision = boolean | ((request: FastifyRequest) => boolean) | Error

/** One piece of a route's URL pattern: literal text, or the name of a parameter (`'*'` for the wildcard). */
type Part = string | { param: string }

interface RouteConfig {
  url?: string
  method?: string | string[]
  session?: { autoload?: unknown }
}

/** Throws when a route's `config.session.autoload` is set to something other than a boolean. */
export function checkRouteConfig (config: unknown, method: unknown, url: unknown): void {
  const setting = (config as RouteConfig | undefined)?.session?.autoload
  if (setting !== undefined && typeof setting !== 'boolean') {
    throw new InvalidOptionError(`\`config.session.autoload\` of route ${String(method)} ${String(url)} must be a boolean`)
  }
}

/** The router's case sensitivity (`routerOptions.caseSensitive`, or the older top-level option). */
function routerCaseSensitive (fastify: FastifyInstance): boolean {
  const config = fastify.initialConfig as { routerOptions?: { caseSensitive?: boolean }, caseSensitive: boolean }
  return config.routerOptions?.caseSensitive ?? config.caseSensitive
}

/** Splits a find-my-way pattern (`/a/:id(^\\d+)-:rev/*`, `::` = a literal colon) into literals and parameters. */
export function parsePattern (url: string): Part[] {
  const parts: Part[] = []
  let literal = ''
  let i = 0
  while (i < url.length) {
    const char = url[i]
    if (char === ':' && url[i + 1] === ':') {
      literal += ':'
      i += 2
    } else if (char === ':') {
      parts.push(literal)
      literal = ''
      let end = i + 1
      while (end < url.length && !'(-./'.includes(url[end] as string)) end++
      parts.push({ param: url.slice(i + 1, end) })
      i = url[end] === '(' ? afterRegExp(url, end) : end
    } else if (char === '*') {
      parts.push(literal, { param: '*' })
      return parts
    } else {
      literal += char
      i++
    }
  }
  parts.push(literal)
  return parts
}

/** The index just past the regular expression of a parameter that opens at `start` (read as find-my-way reads it). */
function afterRegExp (url: string, start: number): number {
  let depth = 0
  let i = start
  do {
    const char = url[i]
    if (char === '\\') i++
    else if (char === '(') depth++
    else if (char === ')') depth--
    i++
  } while (depth > 0 && i < url.length)
  return i
}

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** Decides, per request, whether the plugin's autoload hook loads the session. */
export class Autoload {
  readonly #all: boolean
  readonly #prefixes: string[]
  readonly #patterns: RegExp[]
  readonly #caseSensitive: boolean
  readonly #none: boolean
  /** route config object → decision: each route's config object lives as long as the route */
  readonly #decisions = new WeakMap<object, Decision>()

  constructor (options: NormalizedOptions, fastify: FastifyInstance) {
    this.#all = options.autoloadAll
    this.#caseSensitive = routerCaseSensitive(fastify)
    this.#prefixes = options.autoloadPrefixes.map((prefix) => this.#fold(prefix))
    this.#patterns = options.autoloadPatterns
    this.#none = !this.#all && this.#prefixes.length === 0 && this.#patterns.length === 0
  }

  /** Whether to load the session for this request; throws when the route's config is invalid. */
  wanted (request: FastifyRequest): boolean {
    const config = request.routeOptions.config as RouteConfig
    let decision = this.#decisions.get(config)
    if (decision === undefined) {
      decision = this.#decide(config)
      this.#decisions.set(config, decision)
    }
    if (typeof decision === 'boolean') return decision
    if (decision instanceof Error) throw decision
    return decision(request)
  }

  #decide (config: RouteConfig): Decision {
    try {
      checkRouteConfig(config, config.method, config.url)
    } catch (error) {
      return error as Error
    }
    const setting = config.session?.autoload
    if (typeof setting === 'boolean') return setting
    if (this.#all) return true
    if (this.#none) return false
    const url = config.url
    if (url === undefined) return (request) => this.#notFound(request)
    const parts = parsePattern(url)
    if (parts.length === 1) return this.#matches(parts[0] as string)
    // Every path that reaches the route starts with its literal head: a prefix rule may be answered by it alone.
    const head = this.#fold(parts[0] as string)
    let open = this.#patterns.length > 0
    for (const prefix of this.#prefixes) {
      const slashed = prefix.endsWith('/') ? prefix : prefix + '/'
      if (head.startsWith(slashed)) return true
      if (slashed.startsWith(head)) open = true
    }
    if (!open) return false
    return (request) => this.#matches(fill(parts, request.params as Record<string, string>))
  }

  /** A request no route matched: only `autoload: true` and the path rules on its raw path. */
  #notFound (request: FastifyRequest): boolean {
    return this.#all || (!this.#none && this.#matches(pathOf(request.url)))
  }

  /** `/admin` matches `/admin` and `/admin/...`, not `/administrator`; RegExps test the path as it is. */
  #matches (path: string): boolean {
    const folded = this.#fold(path)
    for (const prefix of this.#prefixes) {
      if (folded === prefix || folded.startsWith(prefix.endsWith('/') ? prefix : prefix + '/')) return true
    }
    for (const pattern of this.#patterns) if (pattern.test(path)) return true
    return false
  }

  /** With a case-insensitive router, `/ADMIN` reaches what `/admin` does: prefixes compare folded. */
  #fold (path: string): string {
    return this.#caseSensitive ? path : path.toLowerCase()
  }
}

/** The path as the router matched it: the route's literals with the request's (decoded) parameters in place. */
function fill (parts: Part[], params: Record<string, string>): string {
  let path = ''
  for (const part of parts) path += typeof part === 'string' ? part : params[part.param]
  return path
}
