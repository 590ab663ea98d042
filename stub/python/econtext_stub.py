# econtext remote stub (Python 2.7 / 3.6+). Wire format: docs/wire-format.md
# Budget: whole file <= 5120 bytes deflated after comment stripping; keep it terse.
import struct,binascii as _A
HDR=struct.Struct('>2sBB5I')
MAX=1<<27
# py2's utf-8 codec accepts encoded surrogates; py3 and Rust do not. `re` costs ~5 ms of
# start-up, so only python 2 imports it.
try:_S=unicode;_I=(int,long);import re;_sur=re.compile(b'\xed[\xa0-\xbf]').search
except NameError:_S=str;_I=int;_sur=lambda r:0
_F=struct.Struct('<d')
class CodecError(ValueError):code=property(lambda s:s.args[0])
_E=CodecError
class _R(object):
 def __init__(s,*a):s.args=a
 __eq__=lambda s,o:type(s)==type(o)and s.args==o.args
 __ne__=lambda s,o:not s==o
 __hash__=lambda s:hash(s.args)
 __repr__=lambda s:type(s).__name__+repr(s.args)
class Context(_R):pass
class Sender(_R):pass
class RemoteError(_R,Exception):pass
_C={'Context':Context,'Sender':Sender,'RemoteError':RemoteError}
# kinds: s str, u u32, b bool, x bytes, v Value, *k seq, ?k option; _B: struct fields, or enum variants split by |
# Value variants by index; N i I f L T D are Value-only kinds
_K='N b i I f s x L T D Context Sender RemoteError'.split()
_VT=(type(None),bool,_I,(),float,_S,(bytes,bytearray),list,tuple,dict,Context,Sender,RemoteError)
_B={'Call':'s s *v *K','K':'s v','P':'v v','Reply':'v|RemoteError','RemoteError':'s s s',
'Shutdown':'','LogRecord':'s u s','ModuleRequest':'s','ModuleReply':'s *Module *s',
'Module':'s s b x','RouteAdd':'u u s','RouteDel':'u',
'Spawn':'u s *s b b b *Prompt *Failure u x','Prompt':'x x','Failure':'x u',
'Init':'u u s u u *s u','Channel':'v|?RemoteError|u','DeadLetter':'u s',
'Context':'u','Sender':'u u'}
def _vw(b,n):
 while n>127:b.append(n&127|128);n>>=7
 b.append(n)
def _wb(b,x):_vw(b,len(x));b+=x
# d = containers enclosing x
def _e(b,k,x,d=0):
 c=k[0]
 if c=='*':
  _vw(b,len(x))
  for y in x:_e(b,k[1:],y,d)
 elif c=='?':
  if x is None:b.append(0)
  else:b.append(1);_e(b,k[1:],x,d)
 elif k=='v':
  for i,t in enumerate(_VT):
   if isinstance(x,t):break
  else:raise _E('bad_variant')
  if i==2 and not-1<<63<=x<1<<63:i=3
  _vw(b,i);_e(b,_K[i],x,d)
 elif k in'LTD':
  if d>63:raise _E('depth')
  _vw(b,len(x))
  for y in x.items()if k=='D'else x:_e(b,'P'if k=='D'else'v',y,d+1)
 elif k=='i':_vw(b,x<<1^x>>63)
 elif k=='I':n=((x if x>0 else~x).bit_length()>>3)+1;_wb(b,bytearray(_A.unhexlify('%0*x'%(2*n,x&(1<<8*n)-1)))[::-1])
 elif k=='f':b+=_F.pack(x)
 elif k=='s':_wb(b,x if isinstance(x,bytes)else x.encode('utf-8'))
 elif k=='u':
  if not 0<=x<1<<32:raise _E('varint')
  _vw(b,x)
 elif k=='b':b.append(bool(x))
 elif k=='x':_wb(b,x)
 elif k!='N':
  t=_B[k]
  if'|'in t:i,x=x;_vw(b,i);_e(b,t.split('|')[i],x,d)
  else:
   for f,y in zip(t.split(),getattr(x,'args',x)):_e(b,f,y,d)
class _D(object):
 def __init__(s,b):s.b=bytearray(b);s.p=0
 def r(s,n):
  p=s.p;s.p+=n
  if s.p>len(s.b):raise _E('truncated')
  return s.b[p:s.p]
 def u(s,w=32):
  n=i=0
  while 1:
   c=s.r(1)[0];n|=(c&127)<<i;i+=7
   if n>>w or i>w and c>127:raise _E('varint')
   if c<128:return n
 # length/count: checked against the bytes left
 def n(s):
  n=s.u(64)
  if n>len(s.b)-s.p:raise _E('truncated')
  return n
 def t(s,e='bad_bool'):
  c=s.r(1)[0]
  if c>1:raise _E(e)
  return c>0
def _d(s,k,d=0):
 c=k[0]
 if c=='*':return[_d(s,k[1:],d)for _ in range(s.n())]
 if c=='?':return _d(s,k[1:],d)if s.t('bad_variant')else None
 if k=='v':
  i=s.u()
  if i>12:raise _E('bad_variant')
  return _d(s,_K[i],d)
 if k in'LTD':
  if d>63:raise _E('depth')
  l=[_d(s,'P'if k=='D'else'v',d+1)for _ in range(s.n())]
  if k!='D':return tuple(l)if k=='T'else l
  r={}
  for k,v in l:
   try:f=k in r
   except TypeError:f=1
   if f:raise _E('bad_key')
   r[k]=v
  return r
 if k=='i':n=s.u(64);return n>>1^-(n&1)
 if k=='I':
  r=bytearray(_d(s,'x'));n=len(r)
  if n<9 or r[-1]==(r[-2]>>7)*255:raise _E('noncanonical_bigint')
  v=int(_A.hexlify(bytes(r[::-1])),16)
  return v-(1<<8*n)if r[-1]>127 else v
 if k=='f':return _F.unpack(bytes(s.r(8)))[0]
 if k in'sx':
  r=bytes(s.r(s.n()))
  if k=='x':return r
  try:
   if not _sur(r):return r.decode('utf-8')
  except UnicodeError:pass
  raise _E('bad_utf8')
 if k=='u':return s.u()
 if k=='b':return s.t()
 if k=='N':return
 t=_B[k]
 if'|'in t:
  t=t.split('|');i=s.u()
  if i>=len(t):raise _E('bad_variant')
  return i,_d(s,t[i],d)
 r=tuple(_d(s,f,d)for f in t.split());c=_C.get(k)
 return c(*r)if c else r
def enc(v,k='v'):b=bytearray();_e(b,k,v);return bytes(b)
def dec(b,k='v'):
 s=_D(b);v=_d(s,k)
 if s.p<len(s.b):raise _E('trailing')
 return v
def hdr_pack(f,dst,src,h,rt,n):return HDR.pack(b'EC',1,f,dst,src,h,rt,n)
def hdr_unpack(b,mx=MAX):
 if len(b)<24:raise _E('truncated')
 h=HDR.unpack(bytes(b[:24]))
 for c,e in(h[0]!=b'EC','bad_magic'),(h[1]!=1,'bad_version'),(h[2]>1,'bad_flags'),(h[7]>mx,'too_large'):
  if c:raise _E(e)
 return h[2:]
