/* sx_server: the C host of the SX evaluator.
 *
 * It reads SX programs from the files named on its command line, in order,
 * into one global environment and evaluates every top-level form. A form
 * (test "name" expr want) prints "ok name" or "FAIL name: ..." so that the
 * guest suites under lib/ can count results. With no files it reads standard
 * input and prints the value of each form instead.
 *
 * Forms are compiled to a small tree of ops before they run, and one loop
 * executes the ops. Lambda bodies get the same treatment ("the JIT").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* @feature version */
#define SX_VERSION "0.9"
/* @end */

typedef struct Val Val;
typedef struct Code Code;
typedef struct Lambda Lambda;
typedef Val *(*Prim)(Val *args);

enum { T_NIL, T_BOOL, T_INT, T_SYM, T_STR, T_PAIR, T_PRIM, T_FN };

/* One struct for every value keeps the printer and the allocator trivial;
 * the host is for tests, not for speed, and never frees anything, so a
 * cell is kept to three words: every call allocates a few. */
struct Val {
	int t;
	union {
		long i;        /* T_INT value, T_BOOL truth */
		const char *s; /* T_SYM name, T_STR text, T_PRIM name */
		Val *car;      /* T_PAIR */
		Lambda *fn;    /* T_FN */
	};
	union {
		Val *cdr;  /* T_PAIR; a T_FN keeps its environment here */
		Prim prim; /* T_PRIM */
	};
};

struct Lambda {
	Val *params, *body;
	Code *code; /* the compiled body, once compiled */
};

enum { OP_CONST, OP_VAR, OP_IF, OP_DEF, OP_SET, OP_FN, OP_SEQ, OP_AND, OP_OR, OP_CALL, OP_TEST, OP_CATCH };

struct Code {
	int op, n;
	Val *v;
	Code *a, *b, *c, **k;
	Lambda *fn;
/* @feature var-cache */
/* @feature !own-defines */
	Val *cell; /* OP_VAR: the global binding it found */
/* @end */
/* @end */
};

static Val nil_v = {.t = T_NIL}, true_v = {.t = T_BOOL, .i = 1}, false_v = {.t = T_BOOL, .i = 0};
#define NIL (&nil_v)
static Val *symbols = NIL;
static Val *S_quote, *S_if, *S_define, *S_fn, *S_lambda, *S_test, *S_begin, *S_let;
static Val *S_cond, *S_else, *S_and, *S_or, *S_set, *S_catch, *S_ok, *S_error;
static jmp_buf *on_error;
static char errmsg[256];
static int reading;
/* @feature jit-stats */
static int jit_compiled;
/* @end */
/* @feature epochs */
static int tests_run, tests_passed; /* in the current file, for --epochs */
/* @end */

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	if (!on_error) {
		fprintf(stderr, "sx_server: %s\n", errmsg);
		exit(2);
	}
	longjmp(*on_error, 1);
}

static void *alloc(size_t n)
{
	void *p = calloc(1, n);
	if (!p)
		fail("out of memory");
	return p;
}

static Val *mk(int t)
{
/* @feature arena */
	/* Cells come from arenas of 1024: a calloc per cell made the guest
	 * suites spend a third of their time in the allocator. */
	static Val *arena;
	static int left;
	if (!left)
		arena = alloc(1024 * sizeof(Val)), left = 1024;
	left--;
	Val *v = arena++;
/* @end */
/* @feature !arena */
	Val *v = alloc(sizeof *v);
/* @end */
	v->t = t;
	return v;
}

static Val *cons(Val *a, Val *d) { Val *v = mk(T_PAIR); v->car = a; v->cdr = d; return v; }
static Val *num(long i) { Val *v = mk(T_INT); v->i = i; return v; }
static char *dup(const char *s, size_t n) { char *p = alloc(n + 1); memcpy(p, s, n); return p; }
static Val *str(const char *s, size_t n) { Val *v = mk(T_STR); v->s = dup(s, n); return v; }
static Val *boolv(int b) { return b ? &true_v : &false_v; }
static int truthy(Val *v) { return !(v->t == T_BOOL && !v->i); }
static Val *list2(Val *a, Val *b) { return cons(a, cons(b, NIL)); }

static Val *intern(const char *s, size_t n)
{
	for (Val *p = symbols; p != NIL; p = p->cdr)
		if (strlen(p->car->s) == n && !strncmp(p->car->s, s, n))
			return p->car;
	Val *v = mk(T_SYM);
	v->s = dup(s, n);
	symbols = cons(v, symbols);
	return v;
}

static Val *sym(const char *s) { return intern(s, strlen(s)); }

/* Reader. */

static const char *in, *in_name;
static int in_line;

static void skip(void)
{
	for (;;) {
		for (; *in == ' ' || *in == '\t' || *in == '\r' || *in == '\n'; in++)
			in_line += *in == '\n';
		if (*in != ';')
			return;
		while (*in && *in != '\n')
			in++;
	}
}

static Val *read_form(void);

static Val *read_list(void)
{
	skip();
	if (!*in)
		fail("%s:%d: unexpected end of input", in_name, in_line);
	if (*in == ')')
		return in++, NIL;
	if (in[0] == '.' && (in[1] == ' ' || in[1] == '\n')) {
		in++;
		Val *d = read_form();
		skip();
		if (*in++ != ')')
			fail("%s:%d: expected ) after a dotted tail", in_name, in_line);
		return d;
	}
	Val *a = read_form();
	return cons(a, read_list());
}

static Val *read_string(void)
{
	char buf[1024];
	size_t n = 0;
	for (in++; *in != '"'; in++) {
		if (!*in || n == sizeof buf - 1)
			fail("%s:%d: unterminated string", in_name, in_line);
		if (*in == '\\' && in[1])
			buf[n++] = *++in == 'n' ? '\n' : *in;
		else
			buf[n++] = *in;
	}
	in++;
	return str(buf, n);
}

static Val *read_form(void)
{
	skip();
	if (*in == '(')
		return in++, read_list();
	if (*in == ')')
		fail("%s:%d: unexpected )", in_name, in_line);
	if (*in == '\'')
		return in++, list2(S_quote, read_form());
	if (*in == '"')
		return read_string();
	const char *p = in;
	while (*in && !strchr(" \t\r\n()';\"", *in))
		in++;
	size_t n = in - p;
	if (n == 2 && p[0] == '#' && (p[1] == 't' || p[1] == 'f'))
		return boolv(p[1] == 't');
	char *end;
	long i = strtol(p, &end, 10);
	if (end == in && end != p && !(n == 1 && *p == '-'))
		return num(i);
	return intern(p, n);
}

/* Printer. */

static void print(FILE *f, Val *v)
{
	switch (v->t) {
	case T_NIL: fputs("()", f); break;
	case T_BOOL: fputs(v->i ? "#t" : "#f", f); break;
	case T_INT: fprintf(f, "%ld", v->i); break;
	case T_SYM: fputs(v->s, f); break;
	case T_PRIM: fprintf(f, "#<prim %s>", v->s); break;
	case T_FN: fputs("#<fn>", f); break;
	case T_STR:
		fputc('"', f);
		for (const char *s = v->s; *s; s++)
			fprintf(f, *s == '\n' ? "\\n" : *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
		fputc('"', f);
		break;
	case T_PAIR:
		fputc('(', f);
		for (print(f, v->car); (v = v->cdr)->t == T_PAIR; print(f, v->car))
			fputc(' ', f);
		if (v != NIL)
			fputs(" . ", f), print(f, v);
		fputc(')', f);
		break;
	}
}

static int equal(Val *a, Val *b)
{
	if (a == b || (a->t == b->t && (a->t == T_INT || a->t == T_BOOL) && a->i == b->i))
		return 1;
	if (a->t != b->t)
		return 0;
	if (a->t == T_STR)
		return !strcmp(a->s, b->s);
/* @feature !deep-equal */
	return a->t == T_PAIR && equal(a->car, b->car) && equal(a->cdr, b->cdr);
/* @end */
/* @feature deep-equal */
	/* Terms can nest deeper than the C stack allows (prolog builds them
	 * a thousand deep), so pairs are compared with a stack of our own,
	 * made of cells: the pairs still to compare, two by two. */
	if (a->t != T_PAIR)
		return 0;
	for (Val *todo = list2(a, b); todo != NIL;) {
		Val *x = todo->car, *y = todo->cdr->car;
		todo = todo->cdr->cdr;
		if (x == y)
			continue;
		if (x->t == T_PAIR && y->t == T_PAIR)
			todo = cons(x->car, cons(y->car, cons(x->cdr, cons(y->cdr, todo))));
		else if (!equal(x, y))
			return 0;
	}
	return 1;
/* @end */
}

/* Environments are lists of frames, innermost first; a frame is a list of
 * (symbol . value) bindings. */

static Val *binding(Val *sym, Val *env)
{
	for (; env != NIL; env = env->cdr)
		for (Val *b = env->car; b != NIL; b = b->cdr)
			if (b->car->car == sym)
				return b->car;
	fail("unbound symbol %s", sym->s);
	return NULL;
}

/* @feature set-front */
/* assign is set!. It also moves the binding to the front of its frame: a
 * variable that is set! once is set! again, and read often (erlang's
 * process dictionary is set! on every put and read on every get). */
static Val *assign(Val *sym, Val *env, Val *val)
{
	for (; env != NIL; env = env->cdr)
		for (Val **p = &env->car; *p != NIL; p = &(*p)->cdr)
			if ((*p)->car->car == sym) {
				Val *first = env->car, *node = *p;
				*p = node->cdr;
				node->cdr = first;
				env->car = node;
				return node->car->cdr = val;
			}
	fail("unbound symbol %s", sym->s);
	return NULL;
}
/* @end */

/* @feature var-cache */
/* @feature !own-defines */
/* lookup finds the binding of a variable op. A binding found in the
 * global frame is kept in the op: the op sits at one place in the program,
 * so the same local frames come before the global one every time it runs,
 * and a global binding is never replaced (define updates it in place). */
static Val *lookup(Code *c, Val *env)
{
	for (; env != NIL; env = env->cdr)
		for (Val *b = env->car; b != NIL; b = b->cdr)
			if (b->car->car == c->v) {
				if (env->cdr == NIL)
					c->cell = b->car;
				return b->car;
			}
	fail("unbound symbol %s", c->v->s);
	return NULL;
}
/* @end */
/* @end */

static void define(Val *env, Val *sym, Val *val)
{
	for (Val *b = env->car; b != NIL; b = b->cdr)
		if (b->car->car == sym) {
			b->car->cdr = val;
			return;
		}
	env->car = cons(cons(sym, val), env->car);
}

/* Compiler: forms to ops. */

static Code *compile(Val *x);
static Code *op(int o, Val *v, Code *a, Code *b)
{
	Code *c = alloc(sizeof *c);
	c->op = o, c->v = v, c->a = a, c->b = b;
	return c;
}

static Code *constant(Val *v) { return op(OP_CONST, v, NULL, NULL); }

static Val *nth(Val *x, int i)
{
	for (; i > 0 && x->t == T_PAIR; i--)
		x = x->cdr;
	if (x->t != T_PAIR)
		fail("malformed form");
	return x->car;
}

static Code *compile_list(int o, Val *xs)
{
	Code *c = op(o, NULL, NULL, NULL);
	for (Val *p = xs; p->t == T_PAIR; p = p->cdr)
		c->n++;
	c->k = alloc((c->n + 1) * sizeof *c->k);
	for (int i = 0; i < c->n; i++, xs = xs->cdr)
		c->k[i] = compile(xs->car);
	return c;
}

static Code *compile_body(Val *body)
{
	if (body == NIL)
		return constant(NIL);
	return body->cdr == NIL ? compile(body->car) : compile_list(OP_SEQ, body);
}

static Lambda *lambda(Val *params, Val *body)
{
	Lambda *l = alloc(sizeof *l);
	l->params = params;
	l->body = body;
/* @feature !jit-lazy */
	l->code = compile_body(body);
/* @end */
	return l;
}

/* @feature let */
static Val *column(Val *rows, int i) { return rows == NIL ? NIL : cons(nth(rows->car, i), column(rows->cdr, i)); }
/* @end */

static Code *compile(Val *x)
{
	Code *c;
	if (x->t == T_SYM)
		return op(OP_VAR, x, NULL, NULL);
	if (x->t != T_PAIR)
		return constant(x);
	Val *h = x->car, *args = x->cdr;
	if (h == S_quote)
		return constant(nth(x, 1));
	if (h == S_if) {
		c = op(OP_IF, NULL, compile(nth(x, 1)), compile(nth(x, 2)));
		c->c = args->cdr->cdr == NIL ? constant(NIL) : compile(nth(x, 3));
		return c;
	}
	if (h == S_define && nth(x, 1)->t != T_PAIR)
		return op(OP_DEF, nth(x, 1), compile(nth(x, 2)), NULL);
	if (h == S_define) { /* (define (name . params) body ...) */
		c = op(OP_FN, NULL, NULL, NULL);
		c->fn = lambda(nth(x, 1)->cdr, args->cdr);
		return op(OP_DEF, nth(x, 1)->car, c, NULL);
	}
	if (h == S_fn || h == S_lambda) {
		c = op(OP_FN, NULL, NULL, NULL);
		c->fn = lambda(nth(x, 1), args->cdr);
		return c;
	}
	if (h == S_test)
		return op(OP_TEST, nth(x, 1), compile(nth(x, 2)), compile(nth(x, 3)));
/* @feature begin */
	if (h == S_begin)
		return compile_body(args);
/* @end */
/* @feature let */
	/* (let ((name value) ...) body ...) is ((fn (name ...) body ...) value ...) */
	if (h == S_let)
		return compile(cons(cons(S_fn, cons(column(nth(x, 1), 0), args->cdr)), column(nth(x, 1), 1)));
/* @end */
/* @feature cond */
	if (h == S_cond && args != NIL) {
		c = op(OP_IF, NULL, args->car->car == S_else ? constant(&true_v) : compile(args->car->car),
		       compile_body(args->car->cdr));
		c->c = compile(cons(S_cond, args->cdr));
		return c;
	}
	if (h == S_cond)
		return constant(NIL);
/* @end */
/* @feature andor */
	if (h == S_and || h == S_or)
		return compile_list(h == S_and ? OP_AND : OP_OR, args);
/* @end */
/* @feature set */
	if (h == S_set)
		return op(OP_SET, nth(x, 1), compile(nth(x, 2)), NULL);
/* @end */
/* @feature catch */
	if (h == S_catch)
		return op(OP_CATCH, NULL, compile_body(args), NULL);
/* @end */
	return compile_list(OP_CALL, x);
}

/* @feature jit-shape */
/* Guests generate many small lambdas that differ only in their names or
 * constants; keying compiled bodies on the shape of the source lets them
 * share one compiled body instead of compiling each. */
/* @feature !shape-big */
#define SHAPES 256
/* @end */
/* @feature shape-big */
#define SHAPES 1024
/* @end */
static struct {
	unsigned key;
	Code *code;
} shapes[SHAPES];

static unsigned shape(Val *x)
{
	unsigned h = 5381;
	if (x->t == T_PAIR)
		return shape(x->car) * 31 + shape(x->cdr) + 7;
	if (x->t != T_SYM)
		return x->t; /* a literal's shape is its type */
	for (const char *s = x->s; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}
/* @end */

static Code *jit(Lambda *l)
{
	if (l->code)
		return l->code;
/* @feature jit-shape */
	unsigned key = shape(l->params) * 17 + shape(l->body);
	if (shapes[key % SHAPES].code && shapes[key % SHAPES].key == key)
		return l->code = shapes[key % SHAPES].code;
/* @end */
	l->code = compile_body(l->body);
/* @feature jit-stats */
	jit_compiled++;
/* @end */
/* @feature jit-shape */
	shapes[key % SHAPES].key = key;
	shapes[key % SHAPES].code = l->code;
/* @end */
	return l->code;
}

/* Executor. */

static Val *exec(Code *c, Val *env);

static Val *bind(Val *f, Val *args)
{
	Val *frame = NIL, *p = f->fn->params;
	for (; p->t == T_PAIR; p = p->cdr, args = args->cdr) {
		if (args == NIL)
			fail("too few arguments");
		frame = cons(cons(p->car, args->car), frame);
	}
	if (p != NIL)
		frame = cons(cons(p, args), frame); /* rest parameter */
	else if (args != NIL)
		fail("too many arguments");
	return cons(frame, f->cdr);
}

static void run_test(Code *c, Val *env)
{
	jmp_buf here, *outer = on_error;
	const char *name = c->v->s ? c->v->s : "?";
/* @feature epochs */
	tests_run++;
/* @end */
	on_error = &here;
	if (setjmp(here)) {
		on_error = outer;
		printf("FAIL %s: error: %s\n", name, errmsg);
		return;
	}
	Val *got = exec(c->a, env), *want = exec(c->b, env);
	on_error = outer;
	if (equal(got, want)) {
/* @feature epochs */
		tests_passed++;
/* @end */
		printf("ok %s\n", name);
		return;
	}
	printf("FAIL %s: got ", name);
	print(stdout, got);
	fputs(", want ", stdout);
	print(stdout, want);
	putchar('\n');
}

/* @feature catch */
/* (catch body ...) is (ok value) when the body returns and (error "message")
 * when it fails, so that guests can build their exceptions on it. */
static Val *catch(Code *body, Val *env)
{
	jmp_buf here, *outer = on_error;
	on_error = &here;
	if (setjmp(here)) {
		on_error = outer;
		return list2(S_error, str(errmsg, strlen(errmsg)));
	}
	Val *v = exec(body, env);
	on_error = outer;
	return list2(S_ok, v);
}
/* @end */

static Val *exec(Code *c, Val *env)
{
	for (;;) {
		switch (c->op) {
		case OP_CONST:
			return c->v;
		case OP_VAR:
/* @feature var-cache */
/* @feature !own-defines */
			return (c->cell ? c->cell : lookup(c, env))->cdr;
/* @end */
/* @end */
			return binding(c->v, env)->cdr;
		case OP_IF:
			c = truthy(exec(c->a, env)) ? c->b : c->c;
			break;
		case OP_SEQ:
			for (int i = 0; i < c->n - 1; i++)
				exec(c->k[i], env);
			c = c->k[c->n - 1];
			break;
		case OP_DEF:
			define(env, c->v, exec(c->a, env));
			return c->v;
		case OP_SET:
/* @feature !set-front */
			return binding(c->v, env)->cdr = exec(c->a, env);
/* @end */
/* @feature set-front */
			return assign(c->v, env, exec(c->a, env));
/* @end */
		case OP_FN: {
			Val *f = mk(T_FN);
			f->fn = c->fn;
			f->cdr = env;
			return f;
		}
		case OP_AND:
		case OP_OR:
			if (c->n == 0)
				return boolv(c->op == OP_AND);
			for (int i = 0; i < c->n - 1; i++) {
				Val *v = exec(c->k[i], env);
				if (truthy(v) != (c->op == OP_AND))
					return v;
			}
			c = c->k[c->n - 1];
			break;
		case OP_TEST:
			run_test(c, env);
			return NIL;
/* @feature catch */
		case OP_CATCH:
			return catch(c->a, env);
/* @end */
		case OP_CALL: {
			Val *f = exec(c->k[0], env), *args = NIL, **tail = &args;
			if (f->t == T_PRIM) {
				/* A primitive never keeps its argument list (list
				 * copies it), so the list lives on the C stack:
				 * cells[i] holds argument i, from 1. */
				Val cells[c->n];
				for (int i = 1; i < c->n; i++, tail = &(*tail)->cdr) {
					cells[i].t = T_PAIR;
					cells[i].car = exec(c->k[i], env);
					cells[i].cdr = NIL;
					*tail = &cells[i];
				}
				return f->prim(args);
			}
			for (int i = 1; i < c->n; i++, tail = &(*tail)->cdr)
				*tail = cons(exec(c->k[i], env), NIL);
			if (f->t != T_FN)
				fail("not a function");
			env = bind(f, args);
			c = jit(f->fn);
			break;
		}
		default:
			fail("bad op %d", c->op);
		}
/* @feature !tco */
		return exec(c, env);
/* @end */
	}
}

/* Primitives take their arguments as a list. */

static Val *arg(Val *a, int i, int t, const char *who)
{
	for (; i > 0 && a != NIL; i--)
		a = a->cdr;
	if (a == NIL || (t >= 0 && a->car->t != t))
		fail("%s: bad argument %d", who, i + 1);
	return a->car;
}

static long int_arg(Val *a, const char *who) { return arg(a, 0, T_INT, who)->i; }

/* arith folds + - * over its arguments; (- x) negates. */
static Val *arith(Val *a, int o)
{
	long s = o == '*';
	if (o == '-' && a->cdr != NIL)
		s = int_arg(a, "-"), a = a->cdr;
	else if (o == '-')
		return num(-int_arg(a, "-"));
	for (; a != NIL; a = a->cdr)
		s = o == '*' ? s * int_arg(a, "*") : o == '+' ? s + int_arg(a, "+") : s - int_arg(a, "-");
	return num(s);
}

static Val *p_add(Val *a) { return arith(a, '+'); }
static Val *p_sub(Val *a) { return arith(a, '-'); }
static Val *p_mul(Val *a) { return arith(a, '*'); }

/* compare checks that a chain (< a b c ...) holds for one relation. */
static Val *compare(Val *a, int rel)
{
	for (; a != NIL && a->cdr != NIL; a = a->cdr) {
		long x = int_arg(a, "compare"), y = int_arg(a->cdr, "compare");
		if (!(rel == '<' ? x < y : rel == '>' ? x > y : rel == 'l' ? x <= y : rel == 'g' ? x >= y : x == y))
			return &false_v;
	}
	return &true_v;
}

static Val *p_lt(Val *a) { return compare(a, '<'); }
static Val *p_numeq(Val *a) { return compare(a, '='); }
static Val *p_cons(Val *a) { return cons(arg(a, 0, -1, "cons"), arg(a, 1, -1, "cons")); }
static Val *p_car(Val *a) { return arg(a, 0, T_PAIR, "car")->car; }
static Val *p_cdr(Val *a) { return arg(a, 0, T_PAIR, "cdr")->cdr; }
static Val *p_list(Val *a) { return a == NIL ? NIL : cons(a->car, p_list(a->cdr)); }
static Val *p_nullp(Val *a) { return boolv(arg(a, 0, -1, "null?") == NIL); }
static Val *p_pairp(Val *a) { return boolv(arg(a, 0, -1, "pair?")->t == T_PAIR); }
static Val *p_not(Val *a) { return boolv(!truthy(arg(a, 0, -1, "not"))); }
static Val *p_equalp(Val *a) { return boolv(equal(arg(a, 0, -1, "equal?"), arg(a, 1, -1, "equal?"))); }
static Val *p_eqp(Val *a)
{
	Val *x = arg(a, 0, -1, "eq?"), *y = arg(a, 1, -1, "eq?");
	return boolv(x == y || (x->t == T_INT && equal(x, y)));
}
/* @feature arith */
static Val *p_gt(Val *a) { return compare(a, '>'); }
static Val *p_le(Val *a) { return compare(a, 'l'); }
static Val *p_ge(Val *a) { return compare(a, 'g'); }

static Val *p_div(Val *a)
{
	long x = int_arg(a, "/"), y = int_arg(a->cdr, "/");
	return y ? num(x / y) : (fail("/: division by zero"), NIL);
}

static Val *p_mod(Val *a)
{
	long x = int_arg(a, "mod"), y = int_arg(a->cdr, "mod");
	return y ? num((x % y + y) % y) : (fail("mod: division by zero"), NIL);
}
/* @end */
/* @feature strings */
static const char *str_arg(Val *a, int i, const char *who) { return arg(a, i, T_STR, who)->s; }
static Val *p_strlen(Val *a) { return num(strlen(str_arg(a, 0, "string-length"))); }
static Val *p_streq(Val *a) { return boolv(!strcmp(str_arg(a, 0, "string=?"), str_arg(a, 1, "string=?"))); }
static Val *p_stringp(Val *a) { return boolv(arg(a, 0, -1, "string?")->t == T_STR); }

static Val *p_strappend(Val *a)
{
	char buf[1024];
	size_t n = 0;
	for (const char *s; a != NIL; a = a->cdr, n += strlen(s)) {
		if (n + strlen(s = str_arg(a, 0, "string-append")) >= sizeof buf)
			fail("string-append: too long");
		memcpy(buf + n, s, strlen(s));
	}
	return str(buf, n);
}

static Val *p_substring(Val *a)
{
	const char *s = str_arg(a, 0, "substring");
	long from = int_arg(a->cdr, "substring"), to = int_arg(a->cdr->cdr, "substring");
	if (from < 0 || to < from || to > (long)strlen(s))
		fail("substring: %ld..%ld out of range", from, to);
	return str(s + from, to - from);
}

static Val *p_numstr(Val *a)
{
	char buf[32];
	return str(buf, snprintf(buf, sizeof buf, "%ld", int_arg(a, "number->string")));
}

static Val *p_strnum(Val *a)
{
	char *end;
	const char *s = str_arg(a, 0, "string->number");
	long i = strtol(s, &end, 10);
	return *s && !*end ? num(i) : &false_v;
}
/* @end */
/* @feature catch */
static Val *p_error(Val *a)
{
	Val *m = arg(a, 0, -1, "error");
	fail("%s", m->t == T_STR || m->t == T_SYM ? m->s : "error");
	return NIL;
}
/* @end */

static const struct {
	const char *name;
	Prim fn;
} prims[] = {
	{"+", p_add}, {"-", p_sub}, {"*", p_mul}, {"<", p_lt}, {"=", p_numeq},
	{"cons", p_cons}, {"car", p_car}, {"cdr", p_cdr}, {"list", p_list},
	{"null?", p_nullp}, {"pair?", p_pairp}, {"not", p_not}, {"eq?", p_eqp}, {"equal?", p_equalp},
/* @feature arith */
	{">", p_gt}, {"<=", p_le}, {">=", p_ge}, {"/", p_div}, {"mod", p_mod},
/* @end */
/* @feature strings */
	{"string-length", p_strlen}, {"string-append", p_strappend}, {"substring", p_substring},
	{"string=?", p_streq}, {"string?", p_stringp}, {"number->string", p_numstr}, {"string->number", p_strnum},
/* @end */
/* @feature catch */
	{"error", p_error},
/* @end */
};

/* Driver. */

static char *slurp(FILE *f)
{
	size_t n = 0, cap = 1 << 16, r;
	char *s = alloc(cap);
	while ((r = fread(s + n, 1, cap - n - 1, f)) > 0)
		if ((n += r) == cap - 1 && !(s = realloc(s, cap *= 2)))
			fail("out of memory");
	s[n] = 0;
	return s;
}

/* run evaluates every form of one source. An error in a form is reported
 * and the next form runs; an error while reading ends the source. */
static void run(const char *name, const char *text, Val *env, int echo)
{
	jmp_buf here;
	in = text, in_name = name, in_line = 1;
	for (;;) {
		on_error = &here;
		if (setjmp(here)) {
			printf("error: %s\n", errmsg);
			if (reading)
				break;
			continue;
		}
		skip();
		if (!*in)
			break;
		reading = 1;
		Val *x = read_form();
		reading = 0;
		Val *v = exec(compile(x), env);
		if (echo && v != NIL)
			print(stdout, v), putchar('\n');
	}
	on_error = NULL;
	reading = 0;
}

int main(int argc, char **argv)
{
/* @feature version */
	if (argc > 1 && !strcmp(argv[1], "--version"))
		return puts("sx_server (C host) " SX_VERSION), 0;
/* @end */
/* @feature epochs */
	/* --epochs runs a chain of suites in one server and ends each file
	 * that ran tests with a marker, (ok-len FILE PASSED RUN), which
	 * conformance scripts count instead of the tests' own lines. */
	int epochs = argc > 1 && !strcmp(argv[1], "--epochs");
	if (epochs)
		argc--, argv++;
/* @end */
	S_quote = sym("quote"), S_if = sym("if"), S_define = sym("define"), S_fn = sym("fn");
	S_lambda = sym("lambda"), S_test = sym("test"), S_begin = sym("begin"), S_let = sym("let");
	S_cond = sym("cond"), S_else = sym("else"), S_and = sym("and"), S_or = sym("or");
	S_set = sym("set!"), S_catch = sym("catch"), S_ok = sym("ok"), S_error = sym("error");
	Val *env = cons(NIL, NIL);
	for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) {
		Val *p = mk(T_PRIM);
		p->s = prims[i].name;
		p->prim = prims[i].fn;
		define(env, sym(prims[i].name), p);
	}
	/* Running files, results go out in large blocks, not a write per
	 * line: a suite prints a line per test, and the writes would cost more
	 * than the tests. */
	if (argc > 1)
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	else
		run("<stdin>", slurp(stdin), env, 1);
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		if (!f)
			return fprintf(stderr, "sx_server: cannot open %s\n", argv[i]), 2;
		run(argv[i], slurp(f), env, 0);
		fclose(f);
/* @feature epochs */
		if (epochs && tests_run)
			printf("(ok-len %s %d %d)\n", argv[i], tests_passed, tests_run);
		tests_run = tests_passed = 0;
/* @end */
	}
/* @feature jit-stats */
	if (getenv("SX_JIT_STATS"))
		fprintf(stderr, "jit: %d lambda bodies compiled\n", jit_compiled);
/* @end */
	return 0;
}
